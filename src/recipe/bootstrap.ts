// The resamples of every bootstrap interval of the project (the AUC's stratified bootstrap in
// roc.ts, the patient-cluster bootstrap of segmentation means, the audit's figures) unless a
// caller asks for another number. Both read their interval off the resamples with the type-7
// quantiles of quantile.ts.

/** Bootstrap resamples unless asked otherwise. */
export const BOOTSTRAP_RESAMPLES = 2000;
