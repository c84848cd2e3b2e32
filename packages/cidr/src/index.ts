export type { Family, IpAddress } from './address.js';
export {
  addressEquals,
  compareAddresses,
  formatAddress,
  formatAddressWithPrefix,
  isIPv4Mapped,
  parseAddress,
  parseAddressWithPrefix,
  unmapIPv4,
} from './address.js';
export { AddressBitmap } from './bitmap.js';
export type { CodeOf, ErrorClass, ErrorKind, KindTable } from './error-class.js';
export { errorClass, KontenaError } from './error-class.js';
export type { CidrErrorCode } from './errors.js';
export { CidrError } from './errors.js';
export { defaultGateway, hostRange, isHostAddress } from './host-range.js';
export type { Subnet } from './subnet.js';
export {
  addressAt,
  compareSubnets,
  formatSubnet,
  lastAddress,
  offsetOf,
  parseSubnet,
  subnetContains,
  subnetEquals,
  subnetSize,
  subnetsOverlap,
} from './subnet.js';
export { countFreeSubnets, firstFreeSubnet, nthSubnet } from './subnet-search.js';
