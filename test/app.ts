import { App } from 'aws-cdk-lib';
import * as cdkJson from '../cdk.json';

/** An App with exactly the feature flags `cdk synth` uses, and no version metadata in templates. */
export function testApp(): App {
  return new App({ context: { ...cdkJson.context }, analyticsReporting: false });
}
