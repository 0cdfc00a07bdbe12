"""``eegssm finetune CONFIG.yaml``: train a classifier (Light, Fine, probe, EEGNet) on windows."""

from __future__ import annotations

import argparse

from eegssm.commands._args import HelpFormatter
from eegssm.commands.pretrain import add_common, run_recipe

DESCRIPTION = """\
Train a window classifier on labelled recordings. Labels come from file-name suffixes
(data.labels, default eegmat: _1 = rest = 0, _2 = mental arithmetic = 1). Heads:
  light   frozen pretrained encoder, 9 statistics per feature channel, MLP (EEGM2-Light)
  fine    pretrained (or, with pretrained: null, random) encoder + mediator trained end to end
  probe   frozen pretrained encoder, time-averaged features (band_power: true adds each
          channel's log relative band power), one linear layer
  eegnet  the EEGNet-8,2 baseline
  shallow the ShallowFBCSPNet baseline
class_weights: balanced weighs the classes by inverse frequency (with either solver).
solver: adamw trains the head with the optimiser of `train`; subjects in data.val_subjects are
held out, their balanced accuracy picks OUT/best and a temperature fitted on them calibrates the
class probabilities. solver: logreg (probe only; the shipped eegmat config) fits the linear layer as
a logistic regression on every training window instead, its L2 strength chosen by a
subject-wise CV inside them whose held-out logits fit the temperature (no steps: the `train`
settings other than the seed do not apply). The checkpoint holds what `eegssm classify` needs
(class names, channels, preprocessing, window length, temperature). Everything goes under OUT
(--out, else the config's output_dir): OUT/last and OUT/best; with adamw also
OUT/train_log.jsonl and the training curve OUT/training_curve.png. --resume continues from
OUT/last.
"""

EPILOG = """\
examples:
  eegssm finetune configs/eegm2_finetune_cpu.yaml
  eegssm finetune configs/eegm2_finetune_cpu.yaml --pretrained P/best --out F -q
  eegssm classify F/best recordings/ --out predictions
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune EEGM2 heads (or EEGNet) on labelled windows from a YAML config",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    add_common(p)
    p.add_argument("--pretrained", help="override pretrained (a pretraining checkpoint folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_recipe(args, "finetune")
