/**
 * @kontena-ipam/cleanup: the reconciler behind kontena-ipam-cleanup, as a library. Plan
 * (planCleanup: the pure decision from Docker's usage and the store's records), reconcile
 * (runCleanup: one run against a store and a Docker view) and report (the action lines and
 * the JSON a run prints). The command line, and the summary table it prints from the
 * CleanupReport, are the app's (`kontena-ipam-cleanup`).
 */
export type {
  AbsentHosts,
  AbsentHostsInput,
  DueHost,
  Sighting,
} from './absent-hosts.js';
export { absentHosts, MIN_FORGET_AFTER_MS } from './absent-hosts.js';
export type {
  CleanupAction,
  CleanupActionKind,
  CleanupLogger,
  CleanupOptions,
  CleanupOutcome,
  CleanupReport,
  CleanupStore,
} from './contract.js';
export { DEFAULT_GRACE_MS, DEFAULT_IPAM_DRIVER, MIN_GRACE_MS } from './contract.js';
export type { DockerUsage } from './docker-usage.js';
export { dockerUsage } from './docker-usage.js';
export type {
  DockerEndpoint,
  DockerIpamConfig,
  DockerNetwork,
  DockerSnapshot,
  DockerView,
  DockerViewOptions,
} from './docker-view.js';
export { createDockerView } from './docker-view.js';
export { formatDuration, parseDuration } from './duration.js';
export type { CleanupErrorCode } from './errors.js';
export { CleanupError } from './errors.js';
export type { NetnsState } from './netns.js';
export { netnsStateOf } from './netns.js';
export type { Plan, PlanInput, PlannedStep } from './plan.js';
export { planCleanup } from './plan.js';
export { runCleanup } from './reconcile.js';
export type { CleanupReportJson } from './report.js';
export { formatAction, reportToJson } from './report.js';
export { RevisionClock } from './revision-age.js';
