"""The tiny SES run the end-to-end tests train: a 16-unit LSTM-AE (the real layers) on 4 HKB days
x 8 SES, evaluated once at the end, so a whole command takes seconds."""

NETWORK = dict(bidirectional_features=16, encoder_features=8, decoder_features=16)


def command_line(num_epochs: int) -> list[str]:
  """`python -m precursor_jax.train --config configs/ses_hkb.py` overrides for the tiny run."""
  return [
    "--config.dataset.num_days=4",
    "--config.dataset.repeats=8",
    "--config.batch_size=8",
    f"--config.num_epochs={num_epochs}",
    "--config.eval.train_examples=8",
    "--config.eval.studies=()",
    "--config.eval.ica_days=0",
    "--config.eval.embedded_anomalies=0",
    *(f"--config.model.lstm_ae.{name}={value}" for name, value in NETWORK.items()),
  ]
