#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addExampleStacks } from '../examples/all';
import { writePrometheusFiles, writeRunbooks } from '../lib/runbook';

const app = new App();
addExampleStacks(app);
// cdk-nag 3 runs as a policy-validation plugin: an unacknowledged finding fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
// A runbook for each stack, beside its template in the cloud assembly.
writeRunbooks(app);
// Prometheus rules and a Grafana dashboard for each stack with a PatroniCluster (docs/prometheus.md).
writePrometheusFiles(app);
