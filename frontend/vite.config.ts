// Vite: build to dist/ with hashed assets under /assets/ (nginx caches those for a year).
// `vite preview` and `vite dev` proxy the API to the backend so one URL serves everything.
import { defineConfig } from "vitest/config";

const backend = process.env.BACKEND_URL ?? "http://127.0.0.1:8000";
const proxy = Object.fromEntries(["/api", "/docs", "/openapi.json"].map((path) => [path, backend]));

export default defineConfig({
  build: { target: "es2022", sourcemap: true, assetsInlineLimit: 0 },
  server: { proxy },
  preview: { proxy },
  test: { include: ["tests/**/*.test.ts"], environment: "node" },
});
