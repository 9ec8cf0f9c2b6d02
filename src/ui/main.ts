/** Entry of the app page (index.html). */
import { mountApp } from './app.ts';

mountApp(document.getElementById('app')!);
