local x = obj.status.phase
return {status = 'Healthy'}
