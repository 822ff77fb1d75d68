/** Questions every layer asks of a built Cluster, answered once here instead of flattened by hand. */
import type { Cluster, Vip, VrrpInstance } from './types.js';

export interface ClusterVip {
  instance: VrrpInstance;
  vip: Vip;
}

/** Every VIP of the cluster with its instance, in file order. */
export function everyVip(cluster: Cluster): ClusterVip[] {
  return cluster.cplb.vrrpInstances.flatMap((instance) => instance.vips.map((vip) => ({ instance, vip })));
}

/** Every VIP address of the cluster, in file order. */
export function vipAddresses(cluster: Cluster): string[] {
  return everyVip(cluster).map((v) => v.vip.address);
}

/** The slowest instance's advert interval: what election and failover bounds wait for. */
export function maxAdvertSeconds(cluster: Cluster): number {
  return Math.max(...cluster.cplb.vrrpInstances.map((i) => i.advertIntervalSeconds));
}
