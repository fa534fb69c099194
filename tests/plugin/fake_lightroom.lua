--[[
    A fake of the Lightroom Classic SDK parts that blurwatch.lrplugin uses (run with Lua
    5.1, as Lightroom does). Like Lightroom, it refuses catalog writes outside
    catalog:withWriteAccessDo, and LrTasks.execute runs the command in a real shell.

    Returns the `fake` table; the host installs fake.globals (import, LOC, WIN_ENV...).
]]

local fake = {
  commands = {}, dialogs = {}, logs = {}, prefs = {}, selected = {},
  temp_dir = "/tmp", cancel_after = nil, writing = false, write_blocks = 0,
}

-------------------
-- keywords, photos, catalog
-------------------

local keywords = {} -- "parent/name" -> keyword

local function keyword(name, parent)
  local key = (parent and parent:getName() or "") .. "/" .. name
  if not keywords[key] then
    keywords[key] = {
      getName = function() return name end,
      getParent = function() return parent end,
    }
  end
  return keywords[key]
end

local function check_writing(what)
  if not fake.writing then error(what .. " outside catalog:withWriteAccessDo") end
end

function fake.add_photo(path)
  local photo = { path = path, pickStatus = 0, colorNameForLabel = "none", keywords = {} }
  function photo:getRawMetadata(key)
    if key == "keywords" then
      local list = {}
      for kw in pairs(self.keywords) do list[#list + 1] = kw end
      return list
    end
    return self[key]
  end
  function photo:setRawMetadata(key, value)
    check_writing("setRawMetadata")
    self[key] = value
  end
  function photo:addKeyword(kw)
    check_writing("addKeyword")
    self.keywords[kw] = true
  end
  function photo:removeKeyword(kw)
    check_writing("removeKeyword")
    self.keywords[kw] = nil
  end
  return photo
end

-- "parent|name" of every keyword of the photo, sorted.
function fake.keyword_paths(photo)
  local names = {}
  for kw in pairs(photo.keywords) do
    local parent = kw:getParent()
    names[#names + 1] = (parent and parent:getName() .. "|" or "") .. kw:getName()
  end
  table.sort(names)
  return names
end

fake.catalog = {}

function fake.catalog:getTargetPhotos() return fake.selected end

function fake.catalog:withWriteAccessDo(action, fn, options)
  fake.writing = true
  fake.write_blocks = fake.write_blocks + 1
  local ok, err = pcall(fn)
  fake.writing = false
  if not ok then error(err, 0) end
end

function fake.catalog:createKeyword(name, synonyms, include_on_export, parent, return_existing)
  check_writing("createKeyword")
  return keyword(name, parent)
end

-------------------
-- SDK namespaces
-------------------

local function callable(fn) return setmetatable({}, { __call = function(_, ...) return fn(...) end }) end

local modules = {}

modules.LrApplication = { activeCatalog = function() return fake.catalog end }

modules.LrTasks = {
  execute = function(command)
    table.insert(fake.commands, command)
    return os.execute(command) -- Lua 5.1: the status number, 0 on success
  end,
  startAsyncTask = function(fn) fn() end,
}

modules.LrPathUtils = {
  child = function(dir, name) return dir .. "/" .. name end,
  getStandardFilePath = function(which) return fake.temp_dir end,
}

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

modules.LrFileUtils = {
  chooseUniqueFileName = function(path)
    local candidate, n = path, 1
    while exists(candidate) do
      candidate = path .. "-" .. n
      n = n + 1
    end
    return candidate
  end,
  readFile = function(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local text = f:read("*a")
    f:close()
    return text
  end,
  delete = function(path) return os.remove(path) ~= nil end,
}

modules.LrFunctionContext = { callWithContext = function(name, fn, ...) return fn({}, ...) end }

modules.LrProgressScope = callable(function(args)
  local scope = { title = args.title, done_calls = 0, portions = {} }
  function scope:setPortionComplete(done, total) table.insert(self.portions, { done, total }) end
  function scope:isCanceled() return fake.cancel_after ~= nil and #self.portions >= fake.cancel_after end
  function scope:done() self.done_calls = self.done_calls + 1 end
  fake.progress = scope
  return scope
end)

modules.LrDialogs = {
  message = function(title, message, kind) table.insert(fake.dialogs, { title = title, message = message, kind = kind }) end,
}

modules.LrLogger = callable(function(name)
  local logger = {}
  function logger:enable(how) end
  for _, level in ipairs({ "trace", "info", "warn", "error" }) do
    logger[level] = function(self, message) table.insert(fake.logs, level .. ": " .. message) end
  end
  return logger
end)

modules.LrPrefs = { prefsForPlugin = function() return fake.prefs end }

modules.LrView = { bind = function(key) return { bind_to = key } end }

-------------------
-- globals Lightroom gives every plug-in file
-------------------

fake.globals = {
  import = function(name) return modules[name] or error("no SDK namespace " .. name) end,
  LOC = function(key) return string.match(key, "=(.*)$") or key end,
  WIN_ENV = false,
  MAC_ENV = true,
}

return fake
