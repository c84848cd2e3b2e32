#!/usr/bin/env node
/**
 * kontena-ipam-cni: the CNI IPAM plugin (install it into the CNI plugin directory as
 * `kontena-ipam`, e.g. with `kontena-ipam install-cni`). Reads the CNI environment and the
 * network config on stdin, asks the host's running kontena-ipam, prints the CNI result or
 * error. Imports only the client (node built-ins): it starts on every ADD, CHECK and DEL.
 */
import { cniMain } from '../client/main.js';

await cniMain();
