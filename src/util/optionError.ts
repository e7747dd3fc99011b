// Errors about a setting, raised in the lower layers (data, recipe), which must not know the
// CLI's flags: the message names the problem, `option` names the setting by its API name, and
// `fix` an API setting that gets past it. The CLI's act() renders both as flags
// (onError → --on-error); a library caller reads them in API terms.
interface OptionFix {
  option: string;
  value?: string;
}

const flag = (option: string) => `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export class OptionError extends Error {
  constructor(
    readonly problem: string,
    readonly option: string | null = null,
    readonly fix: OptionFix | null = null,
  ) {
    super(
      problem + (fix ? `; set ${fix.option}${fix.value !== undefined ? ` to '${fix.value}'` : ''} to get past it` : ''),
    );
    this.name = 'OptionError';
  }

  /** The same error in the CLI's words. */
  cliMessage(): string {
    const subject = this.option
      ? this.problem.replace(new RegExp(`\\b${this.option}\\b`), flag(this.option))
      : this.problem;
    if (!this.fix) return subject;
    return `${subject}; use ${flag(this.fix.option)}${this.fix.value !== undefined ? ` ${this.fix.value}` : ''}`;
  }
}
