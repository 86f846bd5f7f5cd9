/// <reference types="vitest/config" />
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

// Relative asset paths: the same build loads from Tauri (tauri://), from `anshin serve` at
// http://host:port/ and at http://host:port/wall.
// `npm run dev` runs against a real engine: /api (the WebSocket feed too) goes to ANSHIN_ENGINE,
// by default `make serve-demo`'s http://127.0.0.1:8470 (README: Development).
declare const process: { env: Record<string, string | undefined> }; // node's, without @types/node
const engine = process.env.ANSHIN_ENGINE ?? 'http://127.0.0.1:8470';

export default defineConfig({
  base: './',
  plugins: [svelte()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts or data: scripts (CSP: default-src 'self').
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: true,
    proxy: { '/api': { target: engine, ws: true } },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    // The engine's catalogue (generated from the Rust tables) registered as the console does at start.
    setupFiles: ['tests/setup-catalogue.ts'],
    environment: 'node',
  },
});
