// Console addresses. ARNs go into the path as they are (their colons are valid there);
// anything else is escaped.
export function machineHref(arn) {
  return `/console/state-machines/${escapeArn(arn)}`;
}

export function executionHref(arn) {
  return `/console/executions/${escapeArn(arn)}`;
}

function escapeArn(arn) {
  return encodeURIComponent(arn).replace(/%3A/gi, ':');
}
