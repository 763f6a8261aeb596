import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The users service's base URL comes from VITE_USERS_SERVICE_URL at build time;
// empty means same origin, which is how nginx serves the page and proxies /users.
export default defineConfig({
  plugins: [react()],
  server: {
    port: 3000,
    strictPort: true,
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/setupTests.js'],
    include: ['src/**/*.test.{js,jsx}'],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
