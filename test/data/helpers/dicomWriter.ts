// Tests import the DICOM writer from here; it lives in src/data (the serve benchmark's
// hostile clients build DICOM files with it too).
export * from '../../../src/bench/dicomWriter.js';
