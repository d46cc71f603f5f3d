# Front-end profiles: what each board build measures and drives, as figures for the
# front-end model (simulation/femodel.py). Each figure is derived from its board file's
# constants (boards/pico.py, boards/esp32.py: named in the comments, checked equal by
# tests/test_feprofiles.py) and a datasheet, cited beside it. Simulation only: never in a
# real board's image. Figures are at the CELL (voltage) or as a fraction of the range's
# full scale (current) unless the name says otherwise.
#
# Common to every profile (the one analog board of boards/pico.py and boards/esp32.py):
# ranges 20 uA .. 20 mA (RANGES_NA), sense swing +-1.0 V around V_mid = 1.25 V
# (SENSE_FS_UV, V_MID_UV), DAC referenced to the 3V3 rail.
#
# (Since issue 11 the Pico's MCP4725 runs on the shared 3.000 V REF with V_mid: its
# profile below says so; the PWM DAC and the ESP32's DAC stay on 3V3, as follows.)
# DAC: VOUT = 3.3 V * code / 2**bits (DAC_SPAN_UV); zero current at V_mid, full scale
# +-1.0 V, so the usable codes per full scale are 1.0 V * 2**bits / 3.3 V: 1241.2 for 12
# bits (2482 usable codes of 4096, MCP4725 or the 12-bit PWM), 77.6 for the ESP32's 8-bit
# DAC. The zero code rounds 1.25 V * 2**bits / 3.3 V (1551.5 -> 1552, 96.97 -> 97): half
# a code (or 0.03 code) of offset. A 1 % error of the 3V3 rail moves the DAC's volts
# by 1 % against V_mid (its own reference): 12.5 mV at zero current = 1.25e-2 of full
# scale of output offset and 1 % of gain. Today's design (issue 11 designs the channel
# with a shared reference, which removes most of it): the figures here are today's.
# 3V3 accuracy: the Pico's RT6150 buck-boost and the DevKit's AMS1117 are +-2 % parts;
# taken as +-1 % (the figure), drifting +-0.1 % with temperature over a run.
#
# Voltage readings: the board calibrates its voltage input at two points (firmware/board/
# calibration.py), so what is left is INL (a bow between the calibration points),
# DNL, noise and drift. V_ERR_UV is the bound on what calibration cannot remove
# (INL + drift at the cell); the board refuses holds it cannot keep (firmware/core/
# protocol.py, V_TOL_UV).

# The tolerance of the reliability bound: the true cell voltage may pass the window's
# edge by at most this (docs/reliability.md).
V_TOL_UV = 5000

PROFILES = {
    # ---- The recommended build: RP2040 + ADS1115 + MCP4725 (boards/pico.py) --------
    "pico-ads1115": {
        "board": "pico",
        # V: ADS1115 AIN2 single-ended at PGA +-4.096 V (ADS_PGA_V): 0 .. 4.096 V in
        # 32768 codes (125 uV), x2 divider (V_DIV) -> 250 uV per code at the cell.
        "v_bits": 15, "v_span_uV": 8192000,
        # ADS1115 (TI SBAS444) output noise at 860 SPS (ADS_RATE 7), FSR +-2.048 V is
        # about 30 uV rms (datasheet noise figure; TI E2E "ADS1115 SPS vs resolution");
        # at +-4.096 V about 60 uV, x2 divider: 120 uV rms per conversion at the cell.
        "v_noise_uV": 120.0,
        # INL 1 LSB (datasheet, best fit, 99 % FS) -> 250 uV at the cell; the
        # unity-gain buffer's offset is calibrated out.
        "v_inl_uV": 250.0,
        # I: AIN0-AIN1 differential at PGA +-2.048 V (ADS_PGA_I): 62.5 uV codes over the
        # +-1.0 V sense swing: 16000 codes per full scale -> modelled as 15 bits
        # (16384 per full scale, about the same step).
        "i_bits": 15,
        # 30 uV rms / 1.0 V FS = 3e-5; the sense amplifier (INA, 5x on the 0.2 V shunt
        # drop) adds its own: taken as 1e-4 of FS (the old model's figure, not better).
        "i_noise_frac": 1e-4,
        "i_inl_frac": 6.25e-5,     # 1 LSB of 62.5 uV over 1.0 V
        "oversample": 4,           # OVERSAMPLE_ADS: 4 x 2 conversions at 1.2 ms
        # MCP4725 (Microchip DS22039): 12 bits on VDD = REF, 3.000 V (DAC_BITS,
        # DAC_SPAN_UV; issue 11's channel): SENSE_FS_UV 0.9968 V x 4096 / 3.0 V = 1360.9
        # codes per full scale (2722 usable), zero code 1706.7 -> 1707
        "dac_codes_fs": 1360.9, "dac_zero_code_err": 0.3,
        "dac_inl_lsb": 2.0,        # INL +-2 LSB typ (datasheet), a bow
        "settle_ms": 0.006,        # 6 us settling (datasheet); the loop's op-amp far faster
                                   # than a tick
        # the measurement's residual offset and gain after calibration (ADS1115 offset
        # +-3 LSB, gain 0.15 % max: calibrated to about a tenth)
        "offset_frac": 2e-4, "gain_frac": 1e-3,
        # the output's errors: DAC and V_mid share REF (issue 11), so what is left is
        # the V_mid divider's 0.1 % resistors (1.25 mV = 1.25e-3 FS) and the MCP4725's
        # offset (0.02 % FSR typ) and gain error (-0.1 % typ), drifting with REF's
        # divider tempco (25 ppm/K x 10 K x 1.25 V: 0.3 mV)
        "out_offset_frac": 1.5e-3, "out_gain_frac": 2e-3,
        "drift_frac": 3e-4, "drift_period_s": 3600.0,
        # the voltage reading's residual after calibration: INL + LM4040/ADS reference
        # drift (ADS1115 gain drift 7 ppm/K typ x 10 K x 4.1 V = 0.3 mV)
        "v_gain_err": 7e-5,
        # range switch (74HC4052-class mux, break-before-make): the loop opens for
        # about 1 ms and the output slews through up to 10 % of the new range's full scale
        "switch_ms": 1.0, "switch_glitch_frac": 0.1,
        # enable: the output switch closes on a loop that has been waiting: a 1 ms kick
        # of up to 5 % of full scale
        "enable_ms": 1.0, "enable_glitch_frac": 0.05,
        # leakage of the open output switch and the mux (a few nA at room temperature,
        # e.g. ADG1209 off leakage +-1 nA typ, +-? over T: taken 2 nA)
        "leak_nA": 2.0,
        "v_err_uV": 1000,          # INL 250 uV + drift 300 uV + quantisation: < 1 mV
        # the termination floor (I_FLOOR_NA): the smallest end current a hold ends on
        # with the TRUE current within 5 % of it, MEASURED (benchmarks/fe_profiles.py,
        # docs/hardware.md "Measured per profile"): 500 nA on 6 seeds at the board's
        # 100 ms tick (C/76 of fig4 passes). Why (the estimate beside it in the
        # benchmark): one DAC code 14.7 nA and the loop's wander (its 60 uV per tick,
        # mostly below the 250 uV code, on fig4's 300 ohm) are a few % of it
        "i_end_min_nA": 500,
    },
    # ---- RP2040's own ADC, PWM DAC (boards/pico.py, dac="pwm", adc="internal") ------
    "pico-internal": {
        "board": "pico",
        # V: 12-bit SAR on ADC_VREF = 3.000 V (LM4040, ADC_VREF_UV): 0.73 mV, x2 -> 6.0 V
        # span at the cell.
        "v_bits": 12, "v_span_uV": 6000000,
        # RP2040 datasheet 4.9.3: ENOB about 8.7 bits: noise + distortion of
        # 3.0 V / 2**8.7 / sqrt(12) = 2.08 mV rms at the pin (quantisation is modelled
        # apart), x2 divider: 4.2 mV rms at the cell per sample.
        "v_noise_uV": 4100.0,
        # INL about +-2 LSB away from the spikes (datasheet 4.9.3 figures): 2.9 mV at
        # the cell; RP2040-E11: DNL spikes at codes 512, 1536, 2560, 3584 (a code about
        # 8 LSB wide; the codes next to it missing)
        "v_inl_uV": 2900.0, "dnl_spikes": (512, 1536, 2560, 3584), "dnl_width": 8,
        # I: V_sense - V_mid, two reads of the same ADC (ADC_I_PIN, ADC_MID_PIN):
        # 0.73 mV codes over the 1.0 V swing: 1365 per FS -> 11 bits (1024, coarser)
        "i_bits": 11,
        # two reads: sqrt(2) x 2.08 mV / 1.0 V
        "i_noise_frac": 2.9e-3, "i_inl_frac": 1.5e-3,
        "oversample": 16,          # OVERSAMPLE_INTERNAL
        # 12-bit PWM on IOVDD = 3V3 (PWM_SPAN_UV): 0.9968 V x 4096 / 3.3 V = 1237.2 codes
        # per full scale; 2-pole RC 1 k / 1 uF (PWM_FILTER_*): 1 ms poles
        "dac_codes_fs": 1237.2, "dac_zero_code_err": 0.5, "dac_inl_lsb": 1.0,
        # the RC filter: two 1 ms poles, modelled as one lag of 2 ms
        "settle_ms": 2.0,
        "offset_frac": 1e-3, "gain_frac": 2e-3,
        "out_offset_frac": 1.25e-2, "out_gain_frac": 1e-2,
        "drift_frac": 1.25e-3, "drift_period_s": 3600.0,
        "v_gain_err": 1e-4,        # LM4040 100 ppm/K max x 10 K -> +-0.1 %: taken 1e-4
        "switch_ms": 1.0, "switch_glitch_frac": 0.1,
        "enable_ms": 1.0, "enable_glitch_frac": 0.05,
        "leak_nA": 2.0,
        # INL 2.9 mV + drift 0.4 mV + a spike's partial code: 5 mV
        "v_err_uV": 5000,
        # the termination floor (see pico-ads1115), MEASURED: 15 uA on 8 seeds at the
        # board's 100 ms tick (12 uA: one seed 10.6 % off; fig4's C/46, 1.82 uA, up to
        # 48 % off; above it rare ends off by a reading past the loop's band: 40 uA
        # 21.7 % on one of 6 seeds, docs/hardware.md). Why: the hold's loop turns the reading's 1.0 mV per tick into
        # current noise, 1.0 mV / 300 ohm / sqrt(32) = 0.6 uA rms on fig4, and the end
        # comes on a low excursion of it
        "i_end_min_nA": 15000,
    },
    # ---- ESP32 + ADS1115, the ESP32's own 8-bit DAC (boards/esp32.py) -------------
    "esp32-ads1115": {
        "board": "esp32",
        # V: ADS1115 at +-4.096 V (as on the Pico), x5/2 divider (V_DIV) -> 312.5 uV
        # codes at the cell, 10.24 V span
        "v_bits": 15, "v_span_uV": 10240000,
        "v_noise_uV": 150.0,       # 60 uV rms x 2.5
        "v_inl_uV": 312.0,
        "i_bits": 15, "i_noise_frac": 1e-4, "i_inl_frac": 6.25e-5,
        "oversample": 4,
        # DAC1 (GPIO25, DAC_BITS 8, DAC_SPAN_UV 3.3 V): 0.9968 V x 256 / 3.3 V = 77.3 codes per FS,
        # zero code 97 for 96.97. ESP32 datasheet (v4.x, 4.1.3): 8-bit DAC, INL/DNL not
        # specified: taken +-1 LSB (no better than a 12-bit part's 2 LSB at 12 bits)
        "dac_codes_fs": 77.3, "dac_zero_code_err": 0.03, "dac_inl_lsb": 1.0,
        "settle_ms": 0.1,
        "offset_frac": 2e-4, "gain_frac": 1e-3,
        "out_offset_frac": 1.25e-2, "out_gain_frac": 1e-2,
        "drift_frac": 1.25e-3, "drift_period_s": 3600.0,
        "v_gain_err": 7e-5,
        "switch_ms": 1.0, "switch_glitch_frac": 0.1,
        "enable_ms": 1.0, "enable_glitch_frac": 0.05,
        "leak_nA": 2.0,
        "v_err_uV": 1000,
        # the termination floor (see pico-ads1115), MEASURED: 1.82 uA (fig4's C/46) on
        # 6 seeds at 100 ms and at 1 s ticks (1 uA: 17 % off). Why: one code of the
        # 8-bit DAC is 259 nA on the 20 uA range, 14 % of C/46: the hold dithers
        # between two codes and where an end current sits on that grid decides (2.7 uA,
        # above this floor, ended 5.9 % off; 20-55 uA, on the 200 uA range's 2.59 uA
        # code, 5.2-12.2 %: docs/hardware.md)
        "i_end_min_nA": 1823,      # C/46 of fig4, 83900 // 46
    },
    # ---- ESP32 ADC1 at 11 dB, 8-bit DAC (boards/esp32.py defaults) ----------------
    "esp32-internal": {
        "board": "esp32",
        # V: ADC1 12 bits at 11 dB, read_uv() up to 3.3 V (ADC_READ_MAX_UV) -> 0.8 mV
        # codes, x5/2 divider: 8.25 V span, 2.0 mV per code at the cell.
        "v_bits": 12, "v_span_uV": 8250000,
        # noise: about 5 mV rms at the pin at 11 dB (ESP-IDF ADC guide: "noise ...
        # multisampling recommended"; the issue measured 12.5 mV rms at the cell)
        "v_noise_uV": 12500.0,
        # ESP32 datasheet ADC characteristics: INL +-12 LSB, DNL +-7 LSB (11 dB, after
        # the eFuse calibration): 12 x 0.8 mV x 2.5 = 24 mV at the cell
        "v_inl_uV": 24000.0,
        # I: V_sense - V_mid, two ADC1 reads: 0.8 mV codes over 1.0 V -> 11 bits
        "i_bits": 11, "i_noise_frac": 7e-3, "i_inl_frac": 9.6e-3,
        "oversample": 32,          # OVERSAMPLE
        "dac_codes_fs": 77.3, "dac_zero_code_err": 0.03, "dac_inl_lsb": 1.0,
        "settle_ms": 0.1,
        "offset_frac": 2e-3, "gain_frac": 5e-3,
        "out_offset_frac": 1.25e-2, "out_gain_frac": 1e-2,
        "drift_frac": 1.25e-3, "drift_period_s": 3600.0,
        # the internal 1.1 V reference drifts (datasheet: Vref 1.0 .. 1.2 V across
        # chips, calibrated; its temperature drift about 100 ppm/K): 1e-3 over 10 K
        "v_gain_err": 1e-3,
        "switch_ms": 1.0, "switch_glitch_frac": 0.1,
        "enable_ms": 1.0, "enable_glitch_frac": 0.05,
        "leak_nA": 2.0,
        # INL 24 mV + drift 4 mV
        "v_err_uV": 28000,
        # the termination floor (see pico-ads1115), MEASURED: none. Of the end currents
        # from 300 nA to 55 uA (6 seeds at 100 ms) only 30 uA ended within 5 % (4.2 %),
        # its neighbours 27 and 40 uA 8.2 and 5.6 % off, 55 uA 22 %, C/46 of fig4 43 %:
        # no end current from which on holds end within 5 %. Why: the 8-bit DAC's code (259 nA on the
        # 20 uA range, 2.59 uA on 200 uA) and its reading's 2.2 mV per tick through the
        # hold's loop (1.3 uA rms on fig4). None: the board takes no hold (its floor is
        # put above its HOLD_I_MAX_NA, boards/sim.py channel_figures)
        "i_end_min_nA": None,
    },
}
DEFAULT = "pico-ads1115"   # the recommended build (docs/hardware.md)

# Per-tick figures the FIRMWARE is told about its board (board files carry them as
# V_NOISE_UV / V_ERR_UV): rms noise of one tick's oversampled voltage reading.


def tick_noise_uV(name):
    """The rms noise of one tick's voltage reading (oversampled) for a profile."""
    p = get(name)
    return int(p["v_noise_uV"] / p["oversample"] ** 0.5 + 0.5)


def get(name):
    if name is None:
        name = DEFAULT
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError("unknown board profile %r: one of %s (default %s)" % (
            name, ", ".join(sorted(PROFILES)), DEFAULT))


_MODEL_KEYS = ("v_bits", "v_span_uV", "v_noise_uV", "v_inl_uV", "dnl_spikes", "dnl_width",
               "i_bits", "i_noise_frac", "i_inl_frac", "oversample", "dac_codes_fs",
               "dac_zero_code_err", "dac_inl_lsb", "settle_ms", "offset_frac", "gain_frac",
               "out_offset_frac", "out_gain_frac", "drift_frac", "drift_period_s",
               "v_gain_err", "switch_ms", "switch_glitch_frac", "enable_ms",
               "enable_glitch_frac", "leak_nA")


def model_kwargs(name):
    """The profile's figures as femodel.FrontEndModel keyword arguments."""
    p = get(name)
    return dict((k, p[k]) for k in _MODEL_KEYS if k in p)
