import { vitestDefaults } from '@kontena-ipam/testing/vitest-defaults';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: vitestDefaults({
    // Building the managed plugin's rootfs (pnpm deploy) happens in a hook.
    hookTimeout: 120_000,
    // The e2e files mostly wait on dockerd and etcd, so more files than cores run at once
    // (on 2 cores: ~35 s instead of ~75 s for the whole suite).
    maxWorkers: 4,
  }),
});
