import { App } from 'aws-cdk-lib';
import * as cdkJson from '../cdk.json';

/**
 * An App with exactly the feature flags `cdk synth` uses, and no version metadata in templates.
 * One difference, in reporting only: synth does not also print annotations (tests assert them with
 * `Annotations.fromStack`, and a printed copy of an expected warning is noise that hides failures).
 */
export function testApp(): App {
  return new App({
    context: { ...cdkJson.context, '@aws-cdk/core:annotationsInValidationReport': false },
    analyticsReporting: false,
  });
}
