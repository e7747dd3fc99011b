// The small part of dcmjs (no bundled types) that cxrtune uses: naturalised datasets
// (keyword → value) to and from DICOM Part 10 bytes.
declare module 'dcmjs' {
  type Dataset = Record<string, unknown>;
  interface DicomDictInstance {
    meta: Dataset;
    dict: Dataset;
    write(options?: Record<string, unknown>): ArrayBuffer;
  }
  const dcmjs: {
    data: {
      DicomDict: new (meta: Dataset) => DicomDictInstance;
      DicomMessage: {
        readFile(
          buffer: ArrayBuffer,
          options?: { untilTag?: string; includeUntilTagValue?: boolean; ignoreErrors?: boolean },
        ): DicomDictInstance;
      };
      DicomMetaDictionary: {
        naturalizeDataset(ds: Dataset): Dataset;
        denaturalizeDataset(ds: Dataset): Dataset;
        uid(): string;
        /** keyword → { tag: '(0008,0016)', vr, name, … } */
        nameMap: Record<string, { tag: string; vr: string; name: string }>;
      };
    };
  };
  export default dcmjs;
}
