// model-card.json of an exported web folder: what the page needs to prepare, score, refuse and explain
// (ONNX Runtime Web does not expose an .onnx file's metadata_props, so the card travels beside it).
import type { CalibrationRecord } from '../../../recipe/calibrationMap.js';
import type { ImagePreprocessing } from '../../../engine/preprocessing.js';

export const WEB_CARD_FORMAT = 'cxrtune-web-card/1';

export interface WebCard {
  format: typeof WEB_CARD_FORMAT;
  arch: string;
  classes: string[];
  positiveClass: string;
  positiveClassIndex: number;
  threshold: number;
  thresholdRule: string;
  /** In words, for the card (e.g. "temperature 1.31, fitted on 412 images" or "none"). */
  calibration: string;
  /** Applied to the softmax before the threshold (recipe/calibrationMap.ts), null without one. */
  calibrationRecord: CalibrationRecord | null;
  preprocessing: ImagePreprocessing;
  preprocessingText: string;
  /** The headline figure with its protocol, in words. */
  headline: string;
  weightsSha256: string;
  intendedUse: string;
  disclaimer: string;
  /** The gradient-free Grad-CAM (docs/onnx.md): the classifier's weight [classes × channels]. */
  cam: { layer: string; weight: number[]; channels: number; reluInHead: boolean };
  /** The lung segmenter the model crops with or carries: its input side and mask threshold. */
  segmenter: { arch: string; size: number; threshold: number; weightsSha256: string } | null;
  /** The folder's files, by relative URL. */
  files: { model: string; segmenter: string | null; ood: string | null };
  /** The ONNX file's own card (metadata_props model_card), for the record. */
  onnxCard: Record<string, unknown>;
}
