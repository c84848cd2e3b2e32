export type {
  DockerEndpoint,
  DockerIpamConfig,
  DockerNetwork,
  DockerSnapshot,
  DockerView,
  DockerViewOptions,
} from './docker-view.js';
export { createDockerView, DEFAULT_DOCKER_SOCKET, resolveDockerSocket } from './docker-view.js';
export { formatDuration, parseDuration } from './duration.js';
export type { CleanupErrorCode, CleanupErrorKind } from './errors.js';
export { CleanupError } from './errors.js';
