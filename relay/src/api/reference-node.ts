import MimeNode from 'nodemailer/lib/mime-node';

/**
 * A MimeNode with the options compileMessage gives its nodes (no textEncoding, no
 * normalizeHeaderKey), for calling nodemailer's own encoders outside a tree. The two private
 * helpers are the ones buildHeaders and getTransferEncoding call; the writers that use them are
 * checked byte for byte against build() by direct-message.test.ts.
 */
export const referenceNode = new MimeNode() as MimeNode & {
  _normalizeHeaderKey(key: string): string;
  _getTextEncoding(value: string): string;
};
