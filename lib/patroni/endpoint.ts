import { Token } from 'aws-cdk-lib';

/** A host and port clients connect to. */
export class ClusterEndpoint {
  /** `host:port`. */
  public readonly socketAddress: string;

  constructor(
    /** DNS name of the endpoint. */
    public readonly hostname: string,
    /** TCP port. */
    public readonly port: number,
  ) {
    this.socketAddress = `${hostname}:${Token.isUnresolved(port) ? Token.asString(port) : port}`;
  }
}
