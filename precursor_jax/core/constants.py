"""Constants shared by several layers, each defined once.

The 0.1 Hz geoelectric day of the SES method (Xue et al. 2022): one sample every 10 s, so a day is
8640 samples, an hour 360 and a minute 6. Readers of geoelectric day files, the synthetic background
model, the SES networks, the dataset builder and the SES task all use these names.

The paper's Fig. 8 study values (SES amplitude at 25 min; SES duration at 15 mV/km): the dataset
builder makes one test set per value and the SES configs evaluate them. The paper names 16 sets
without listing them; these 17 cover every value it mentions.
"""

SECONDS_PER_DAY = 86_400

GEOELECTRIC_INTERVAL_S = 10
GEOELECTRIC_DAY_SAMPLES = SECONDS_PER_DAY // GEOELECTRIC_INTERVAL_S  # 8640
GEOELECTRIC_HOUR_SAMPLES = 3600 // GEOELECTRIC_INTERVAL_S  # 360
GEOELECTRIC_MINUTE_SAMPLES = 60 // GEOELECTRIC_INTERVAL_S  # 6

AMPLITUDE_SWEEP_MV_KM = (6, 8, 10, 12, 15, 20, 25, 30)
DURATION_SWEEP_MIN = (10, 15, 20, 25, 30, 35, 40, 45, 50)
