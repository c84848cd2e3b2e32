/**
 * startTsWorker runs a TypeScript module in a worker thread. Node 20 loads a worker's entry
 * file before `--import tsx` has hooked that thread's loader, so a .ts entry fails; a small
 * eval'd entry registers tsx first, then imports the module.
 */
import { Worker } from 'node:worker_threads';

/** startTsWorker starts `module` (a .ts file URL) in a worker and waits for its first message. */
export async function startTsWorker(module: URL, workerData: unknown): Promise<Worker> {
  const tsx = import.meta.resolve('tsx/esm/api');
  const worker = new Worker(
    `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(module.href)}); });`,
    { eval: true, workerData },
  );
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return worker;
}
