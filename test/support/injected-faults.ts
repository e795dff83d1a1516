/**
 * Faults the tests inject into the local Secrets Manager (`sm.inject(...)`), shared where the same
 * failure is played against several adapters.
 */

/**
 * The rotation function dies after minting a credential and before storing it: the next
 * PutSecretValue is refused once, so the minted credential is left orphaned.
 */
export const putSecretValueCrash = {
  operation: 'PutSecretValue',
  error: {
    type: 'AccessDeniedException',
    message: 'injected: the function died before storing',
    status: 400,
  },
  times: 1,
} as const;
