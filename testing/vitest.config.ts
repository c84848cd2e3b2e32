import { defineConfig } from 'vitest/config';
import { vitestDefaults } from './vitest-defaults.js';

export default defineConfig({ test: vitestDefaults() });
