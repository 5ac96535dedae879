import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { mark } from './lib/startup';

mark('page: main.ts evaluated');

const app = mount(App, { target: document.getElementById('app')! });
mark('page: App mounted');

export default app;
