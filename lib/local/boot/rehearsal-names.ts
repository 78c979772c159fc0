// The account, region and stack the booted rehearsal deploys to, as CloudFormation would name them.
// Apart from rehearsal-stack.ts so that the operations runtime can use them without aws-cdk-lib.

export const REHEARSAL_REGION = 'eu-west-1';
export const REHEARSAL_ACCOUNT = '111122223333';
export const REHEARSAL_STACK_NAME = 'Rehearsal';
/** The image the rehearsal's instances launch from (the stack's machine image) unless `failover local apply --image` changed it. */
export const REHEARSAL_IMAGE_ID = 'ami-0ca7f00dca7f00d00';
export const REHEARSAL_STACK_ID = `arn:aws:cloudformation:${REHEARSAL_REGION}:${REHEARSAL_ACCOUNT}:stack/${REHEARSAL_STACK_NAME}/6c1f4e2a-3b5d-4f60-9a8e-2d7c0b1e5f43`;
/** The URL CloudFormation would presign for a wait condition handle, at the stand-in. */
export function rehearsalWaitHandleUrl(handleLogicalId: string): string {
  return `https://cloudformation-waitcondition-${REHEARSAL_REGION}.s3.${REHEARSAL_REGION}.amazonaws.com/${handleLogicalId}`;
}

