#!/usr/bin/env node
/**
 * kontena-ipam-cni: the CNI IPAM plugin a runtime execs (installed as `kontena-ipam` in its
 * plugin directory by `kontena-ipam install-cni`). The client of @kontena-ipam/cni: node
 * built-ins only, so that it starts fast; it asks this host's running kontena-ipam.
 */
import { cniMain } from '@kontena-ipam/cni/client';

await cniMain();
