import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** TypeScript in <script lang="ts">; runes everywhere. */
export default {
  preprocess: vitePreprocess(),
  compilerOptions: { runes: true },
};
