export * from './dns';
