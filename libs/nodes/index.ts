export {
  CreateNodeBody,
  CreatedNode,
  JoinInfo,
  NodeAccount,
  NodeId,
  NodeList,
  NodeParams,
  NodeView,
} from './contracts.ts';
export { decodeJoin, encodeJoin, joinCommand, InvalidJoinString } from './joinString.ts';
export {
  channelsOf,
  joinedNode,
  InvalidNodeFile,
  nodeDatabaseUrl,
  nodeFilePath,
  readNodeFile,
  storeJoin,
  NODE_FILE,
  type JoinedNode,
} from './nodeFile.ts';
export {
  addNode,
  caFingerprint,
  listNodes,
  removeNode,
  roleNameOf,
  NodeExists,
  NodeNotFound,
  NodesUnavailable,
  NODE_GROUP,
} from './registry.ts';
export { newPassword, scramVerifier } from './scram.ts';
