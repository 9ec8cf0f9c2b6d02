/** Entry of the app page. */
import { mountApp } from './app.ts';

mountApp(document.getElementById('app')!);
