/**
 * A byte count for people, in decimal units as browsers' storage settings show them:
 * "512 B", "12 KB", "1.8 MB", "350 MB", "12.5 GB", "125 GB". The one place sizes are
 * formatted (download progress, storage views, capability and quota errors, benches).
 * @param bytes a count of bytes ≥ 0
 */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(bytes >= 1e11 ? 0 : 1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(bytes >= 1e8 ? 0 : 1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(0)} KB`;
  return `${bytes} B`;
}
