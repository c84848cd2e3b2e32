import { defineConfig } from 'vitest/config';
import { vitestDefaults } from '../../testing/vitest-defaults.js';

export default defineConfig({ test: vitestDefaults() });
