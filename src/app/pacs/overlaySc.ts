// The Grad-CAM overlay as a DICOM Secondary Capture (RGB), filed in the source study next to
// the SR: the image as the model saw it (inputSize², letterboxed) with the turbo heatmap
// blended in (opacity ∝ heat), upscaled for reading. The same RGB pixels give the PNG the
// worklist page shows.
import sharp from 'sharp';
import { heatRgba } from '../serve/screen.js';
import type { GrayImage } from '../../data/image.js';
import type { Dataset } from './dicomFile.js';
import { dicomDateTime, type ModelIdentity, type ScreeningFinding } from './screeningSr.js';
import { SOP_CLASS, type ResultUids } from './resultUids.js';
import type { SourceHeader } from './sourceHeader.js';

/** Heat 1 covers the image at this opacity (the page's default overlay is 60 %). */
const OVERLAY_OPACITY = 0.6;
/** Shorter side of the overlay image (the model input is upscaled to at least this). */
const OVERLAY_MIN_SIZE = 512;

interface OverlayImage {
  width: number;
  height: number;
  /** Interleaved RGB, 8 bits. */
  rgb: Buffer;
  png: Buffer;
}

export async function renderOverlay(input: GrayImage, heat: Float32Array): Promise<OverlayImage> {
  const { width, height, pixels } = input;
  const rgba = heatRgba(heat);
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const a = (rgba[i * 4 + 3]! / 255) * OVERLAY_OPACITY;
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round(pixels[i]! * (1 - a) + rgba[i * 4 + c]! * a);
  }
  const scale = Math.max(1, OVERLAY_MIN_SIZE / Math.min(width, height));
  const W = Math.round(width * scale);
  const H = Math.round(height * scale);
  const img = sharp(rgb, { raw: { width, height, channels: 3 } }).resize(W, H, { kernel: 'lanczos3' });
  const out = await img.clone().raw().toBuffer();
  const png = await img.clone().png({ compressionLevel: 6 }).toBuffer();
  return { width: W, height: H, rgb: out, png };
}

export function buildOverlaySc(
  src: SourceHeader,
  f: ScreeningFinding,
  model: ModelIdentity,
  uids: ResultUids,
  ov: OverlayImage,
  now = new Date(),
): Dataset {
  const { date, time } = dicomDateTime(now);
  return {
    _vrMap: { PixelData: 'OB' },
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: SOP_CLASS.secondaryCapture,
    SOPInstanceUID: uids.scSop,
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    TimezoneOffsetFromUTC: '+0000',
    ...src.patientStudy,
    StudyInstanceUID: src.studyUid,
    Modality: 'OT',
    SeriesInstanceUID: uids.scSeries,
    SeriesNumber: 9902,
    SeriesDescription: 'cxrtune Grad-CAM overlay (decision support)',
    Manufacturer: 'cxrtune',
    ManufacturerModelName: model.arch,
    SoftwareVersions: model.software,
    ConversionType: 'WSD',
    InstanceNumber: 1,
    ContentDate: date,
    ContentTime: time,
    ImageType: ['DERIVED', 'SECONDARY'],
    DerivationDescription:
      `Grad-CAM of ${model.arch} ` + `(weights sha256 ${model.sha256.slice(0, 16)}) over the model input`,
    SourceImageSequence: [{ ReferencedSOPClassUID: src.sopClassUid, ReferencedSOPInstanceUID: src.sopUid }],
    ImageComments:
      `Grad-CAM: warm colours mark the regions that raised the probability of ${f.task.finding} ` +
      `(p = ${f.probability.toFixed(3)}, threshold ${f.threshold}). Decision support, not a diagnosis.`,
    BurnedInAnnotation: 'NO',
    SamplesPerPixel: 3,
    PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0,
    Rows: ov.height,
    Columns: ov.width,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [ov.rgb.buffer.slice(ov.rgb.byteOffset, ov.rgb.byteOffset + ov.rgb.byteLength)],
  };
}
