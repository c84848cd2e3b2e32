#!/usr/bin/env node
/** The kontena-ipam command: serves the plugin by default; see runCli for the rest. */
import { runCli } from '../cli.js';

const code = await runCli({
  argv: process.argv.slice(2),
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
});
process.exit(code);
