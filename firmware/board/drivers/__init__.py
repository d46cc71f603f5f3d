# Our own I2C chip drivers (MCP4725 DAC, ADS1115 ADC). Each takes an `i2c` handed in
# (machine.I2C or a stand-in with writeto/readfrom_into/writeto_mem/readfrom_mem_into)
# and never builds a bus or touches a pin itself.
