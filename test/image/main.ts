// `npm run image`: builds (or finds cached) the project image and, when a node started by
// `npm run cluster -- start --node` is running, imports it there. The last line printed is the
// image reference, for `helm install --set image.repository=… --set image.tag=…`.
import { importImageInto, runningNodeSocket } from '../control-plane/node.ts';
import { ensureProjectImage } from './project-image.ts';

const started = Date.now();
const image = await ensureProjectImage();
console.error(`[image] ${image.reference} ready in ${((Date.now() - started) / 1000).toFixed(1)}s (${image.archive})`);
const socket = runningNodeSocket();
if (socket) {
  importImageInto(socket, image.archive);
  console.error(`[image] imported into the node's containerd (${socket})`);
  console.error(`[image] helm install … --set image.repository=${image.repository} --set image.tag=${image.tag} --set image.pullPolicy=Never`);
} else {
  console.error('[image] no node running (`npm run cluster -- start --node`): built only');
}
console.log(image.reference);
