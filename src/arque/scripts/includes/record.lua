-- record: a task's one value in the tasks hash, '<metadata JSON>\n<payload>'.
-- The JSON never holds a raw newline (cjson and json.dumps escape it); the
-- payload may hold any bytes, so a record splits at its first newline.
-- A task enqueued ready, without priority, group or trace context, keeps its
-- metadata as '[t,e]' (8 bytes fewer than '{"t":t,"e":e}', which takes most
-- small records down a size class); both functions that read metadata give
-- it as the object, so every reader sees one form.
-- expand_meta: the metadata JSON as an object, whichever form it is kept in.
local function expand_meta(meta_json)
  if string.byte(meta_json, 1) ~= 91 then return meta_json end  -- not '['
  local t, e = string.match(meta_json, '^%[(%d+),(%d+)%]$')
  return '{"t":' .. t .. ',"e":' .. e .. '}'
end
-- split_record: the metadata JSON and the payload of a record.
local function split_record(raw)
  local nl = string.find(raw, '\n', 1, true)
  if not nl then return expand_meta(raw), '' end
  return expand_meta(string.sub(raw, 1, nl - 1)), string.sub(raw, nl + 1)
end
-- record_meta: the metadata JSON of a record alone (the payload is not copied).
local function record_meta(raw)
  local nl = string.find(raw, '\n', 1, true)
  if not nl then return expand_meta(raw) end
  return expand_meta(string.sub(raw, 1, nl - 1))
end
-- join_record: the record of metadata JSON and a payload.
local function join_record(meta_json, payload)
  return meta_json .. '\n' .. payload
end
-- remeta: a record with its metadata replaced by meta_json, its payload bytes kept.
local function remeta(raw, meta_json)
  local nl = string.find(raw, '\n', 1, true)
  if not nl then return meta_json .. '\n' end
  return meta_json .. string.sub(raw, nl)
end
