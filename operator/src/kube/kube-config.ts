import { KubeConfig } from '@kubernetes/client-node';
import { OperatorError } from '../errors.ts';

/**
 * The operator's client configuration: an explicit kubeconfig path (the --kubeconfig flag),
 * else client-node's default chain: $KUBECONFIG, ~/.kube/config, then the pod's service
 * account (in-cluster). Fails early on a config without a current cluster, rather than at the
 * first request.
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path !== undefined) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new OperatorError('EOP_KUBECONFIG', `cannot load kubeconfig${path === undefined ? '' : ` ${path}`}`, { cause: err });
  }
  if (kc.getCurrentCluster() === null) {
    throw new OperatorError('EOP_KUBECONFIG', `kubeconfig${path === undefined ? '' : ` ${path}`} has no current cluster`);
  }
  return kc;
}
