// The hook every file passes through before any byte is sent (uploads/api.py receives
// only what this returns). Issue #5 fills it with the in-browser de-identification.
export async function prepareForUpload(buffer /* , context */) {
  return { bytes: buffer, deidentified: false, report: null };
}

export const CLIENT_DEIDENTIFIES = false;
