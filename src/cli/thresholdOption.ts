// --threshold for every command that takes one (train, calibrate, evaluate): one grammar
// (recipe/threshold.ts), one help text, each command limited to the forms it can use.
import { InvalidArgumentError, Option } from 'commander';
import {
  THRESHOLD_FORMS,
  formatThresholdRule,
  parseThresholdRule,
  type ThresholdCommand,
  type ThresholdRuleKind,
} from '../recipe/threshold.js';

const FORM_HELP: Record<ThresholdRuleKind, string> = {
  youden: 'youden (max sensitivity + specificity − 1)',
  sensitivity: 'sensitivity:X (the most specific threshold reaching sensitivity X)',
  specificity: 'specificity:X (the most sensitive threshold reaching specificity X)',
  fixed: 'a number in [0, 1]',
  keep: "keep (the checkpoint's threshold)",
  mapped: 'mapped (the same decisions as before calibration)',
};

/**
 * The parsed flag: a fixed threshold stays a number (train's config.json as before), any
 * other rule its canonical text. Refusals name the accepted forms; commander names the flag.
 */
export function thresholdArg(command: ThresholdCommand): (v: string) => number | string {
  return (v) => {
    try {
      const rule = parseThresholdRule(v, THRESHOLD_FORMS[command], command);
      return rule.kind === 'fixed' ? rule.value : formatThresholdRule(rule);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

/** The --threshold option of `command`; `where` says which sample youden/sensitivity/specificity choose on. */
export function thresholdOption(command: ThresholdCommand, o: { where: string; byDefault: string }): Option {
  const forms = THRESHOLD_FORMS[command].map((k) => FORM_HELP[k]).join(' | ');
  return new Option(
    '--threshold <rule>',
    `decision threshold on the positive probability: ${forms}; ` +
      `a rule is chosen on ${o.where} and recorded with its value (default: ${o.byDefault})`,
  ).argParser(thresholdArg(command));
}

/** evaluate's former --target-sensitivity, refused with the form that replaced it. */
export function targetSensitivityRefusal(): Option {
  return new Option('--target-sensitivity <s>').hideHelp().argParser((v: string): never => {
    throw new InvalidArgumentError(
      `--target-sensitivity is replaced: use --threshold sensitivity:${v} ` +
        '(the threshold reaching it on this set; metrics.json keeps atTargetSensitivity)',
    );
  });
}
