local os = require('os')
os.execute('touch /tmp/ferry-pwned')
return {status = 'Healthy'}
