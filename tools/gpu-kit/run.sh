#!/usr/bin/env bash
# FLUX WebGPU GPU measurement kit: the one command (written by `npm run gpu-kit`).
#
#   bash .gpu-kit/run.sh [kit options]      e.g. --ep cpu --model small for a dry run
#
# On a bare Linux x86-64 machine without network: unpacks Node and onnxruntime's native
# library into a scratch folder (never into the kit, which must stay small enough to
# travel), makes the Vulkan loader available (the packages in debs/, unpacked into / as
# root when the system has none), points the loader at the NVIDIA driver when it cannot
# find one, then runs the bench. Results: $OUT/gpu-bench.json, the log in $OUT/gpu-kit.log,
# and the table last on stdout. KIT_TIMEOUT_S (default 470) bounds the whole bench.
set -uo pipefail

KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$PWD/gpu-kit-out}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu-kit.log") 2>&1
SCRATCH="${KIT_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/flux-gpu-kit.XXXXXX")}"
RT="$SCRATCH/runtime"
mkdir -p "$RT"
say() { echo "run.sh: $*"; }
started=$(date +%s)

unxz_to() { # unxz_to SRC DEST: xz, or Python's lzma where xz is missing
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" >"$2"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}

# 1. Node
if [ -f "$KIT/node.xz" ]; then
  unxz_to "$KIT/node.xz" "$RT/node" && chmod +x "$RT/node" || { say "cannot unpack node.xz"; exit 1; }
  NODE="$RT/node"
elif [ -x "$KIT/node" ]; then
  NODE="$KIT/node"
else
  NODE="$(command -v node || true)"
fi
[ -n "$NODE" ] || { say "no Node binary in the kit or on the PATH"; exit 1; }

# 2. onnxruntime-node (JS + the Linux x64 binding, its library beside it) in a node_modules
#    beside copies of the bench, so that nothing outside the scratch folder is resolved
mkdir -p "$RT/node_modules"
cp -a "$KIT/ort/." "$RT/node_modules/"
cp "$KIT/kit.cjs" "$KIT/anchor.py" "$RT/"
NATIVE="$RT/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
if [ -f "$NATIVE/libonnxruntime.so.1.xz" ]; then
  unxz_to "$NATIVE/libonnxruntime.so.1.xz" "$NATIVE/libonnxruntime.so.1" && rm "$NATIVE/libonnxruntime.so.1.xz" || { say "cannot unpack libonnxruntime"; exit 1; }
fi
say "node $("$NODE" --version), unpacked in $(( $(date +%s) - started )) s"

# 3. Vulkan loader (only needed for --ep webgpu; harmless otherwise)
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' && [ -z "${KIT_NO_VULKAN:-}" ] && ls "$KIT"/debs/*.deb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v dpkg >/dev/null 2>&1; then
    for f in "$KIT"/debs/*.deb; do dpkg -x "$f" /; done
    ldconfig
    say "Vulkan loader unpacked into / from debs/"
  else
    mkdir -p "$RT/sysroot"
    for f in "$KIT"/debs/*.deb; do
      if command -v dpkg >/dev/null 2>&1; then dpkg -x "$f" "$RT/sysroot"
      else (cd "$RT/sysroot" && ar p "$f" "$(ar t "$f" | grep '^data\.tar')" | tar -x -J 2>/dev/null || ar p "$f" "$(ar t "$f" | grep '^data\.tar')" | tar -x --zstd); fi
    done
    export LD_LIBRARY_PATH="$RT/sysroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    say "Vulkan loader unpacked into $RT/sysroot"
  fi
fi
NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] && [ -f "$NV_ICD" ] \
  && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES="$NV_ICD" VK_ICD_FILENAMES="$NV_ICD"
  say "Vulkan driver: $NV_ICD"
fi
NV_EGL=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$NV_EGL" ] && [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && export __EGL_VENDOR_LIBRARY_FILENAMES="$NV_EGL"
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
say "Vulkan loader: $(ldconfig -p 2>/dev/null | grep -o '/[^ ]*libvulkan\.so\.1$' | head -1)${LD_LIBRARY_PATH:+ (LD_LIBRARY_PATH $LD_LIBRARY_PATH)}; drivers: ${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null | tr '\n' ' ')}}"

# 4. The bench
timeout --signal=TERM --kill-after=10 "${KIT_TIMEOUT_S:-470}" \
  "$NODE" "$RT/kit.cjs" --out "$OUT" --work "$SCRATCH/work" "$@"
code=$?
[ $code = 124 ] && say "the bench ran past ${KIT_TIMEOUT_S:-470} s and was stopped; $OUT/gpu-bench.json holds what it finished"
[ -z "${KIT_KEEP:-}" ] && rm -rf "$SCRATCH"
say "done in $(( $(date +%s) - started )) s (exit $code); results in $OUT/gpu-bench.json"
exit $code
