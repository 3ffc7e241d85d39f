interface PeerLookup {
  requestIP(request: Request): { address: string } | null
}

/**
 * The address of the socket's peer, which keys the login throttle and the logs; forwarded
 * headers are not trusted. `unknown` when there is no socket (a request handled in process).
 */
export const peerAddress = (server: PeerLookup | null | undefined, request: Request): string =>
  server?.requestIP(request)?.address ?? 'unknown'
