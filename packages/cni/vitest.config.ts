import { vitestDefaults } from '@kontena-ipam/testing/vitest-defaults';
import { defineConfig } from 'vitest/config';

export default defineConfig({ test: vitestDefaults() });
