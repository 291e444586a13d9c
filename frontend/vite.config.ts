import { fileURLToPath, URL } from "node:url";
import { defineConfig } from "vite";

// Django serves dist/index.html at "/" and dist/ itself under /static/ (whitenoise).
export default defineConfig({
  base: "/static/",
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      input: {
        main: fileURLToPath(new URL("./index.html", import.meta.url)),
        baseline: fileURLToPath(new URL("./bench-baseline.html", import.meta.url)),
      },
    },
  },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8765",
      "/accounts": "http://127.0.0.1:8765",
    },
  },
});
