/* The unit picker: an ARIA combobox over /units/suggest, for fields where a unit is chosen
   by name. Markup (templates/_field.html): a .picker[data-unit-picker] holding the text
   input (role=combobox), a listbox, and either a hidden input [data-code] (one unit) or,
   with data-multi="<name>", a ul.chips of chosen units each carrying a hidden input of that
   name. Without this script the text field is sent as typed and the server resolves it. */
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function setup(root) {
    var input = root.querySelector('[role="combobox"]');
    var list = root.querySelector('[role="listbox"]');
    var hidden = root.querySelector("input[data-code]");
    var multi = root.getAttribute("data-multi");
    var chips = root.querySelector("ul.chips");
    var territorial = root.getAttribute("data-territorial") === "1";
    var options = [];
    var active = -1;
    var seq = 0;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      var items = list.querySelectorAll('[role="option"]');
      items.forEach(function (li, i) { li.setAttribute("aria-selected", i === index ? "true" : "false"); });
      active = index;
      if (index >= 0 && items[index]) {
        input.setAttribute("aria-activedescendant", items[index].id);
        items[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function show(units) {
      options = units;
      list.textContent = "";
      units.forEach(function (u, i) {
        var li = document.createElement("li");
        li.id = list.id + "-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.textContent = u.name;
        var code = document.createElement("small");
        code.textContent = u.code;
        li.appendChild(code);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(i); });
        list.appendChild(li);
      });
      if (!units.length) {
        var none = document.createElement("li");
        none.className = "muted";
        none.textContent = "没有匹配的单位";
        list.appendChild(none);
      }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      highlight(-1);
    }

    function addChip(unit) {
      if (chips.querySelector('li[data-code="' + CSS.escape(unit.code) + '"]')) { return; }
      var li = document.createElement("li");
      li.setAttribute("data-code", unit.code);
      li.appendChild(document.createTextNode(unit.name));
      var value = document.createElement("input");
      value.type = "hidden";
      value.name = multi;
      value.value = unit.code;
      li.appendChild(value);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.setAttribute("aria-label", "移除 " + unit.name);
      remove.textContent = "×";
      li.appendChild(remove);
      chips.appendChild(li);
    }

    function choose(index) {
      var unit = options[index];
      if (!unit) { return; }
      if (multi) {
        addChip(unit);
        input.value = "";
      } else {
        input.value = unit.name + "（" + unit.code + "）";
        hidden.value = unit.code;
      }
      close();
      input.focus();
    }

    var lookup = debounce(function (q) {
      var mine = ++seq;
      var url = "/units/suggest?q=" + encodeURIComponent(q) + (territorial ? "&territorial=1" : "");
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { units: [] }; })
        .then(function (data) { if (mine === seq) { show(data.units || []); } })
        .catch(function () { close(); });
    }, 150);

    input.addEventListener("input", function () {
      if (hidden) { hidden.value = ""; }
      var q = input.value.trim();
      if (!q) { close(); return; }
      lookup(q);
    });

    input.addEventListener("keydown", function (e) {
      var open = !list.hidden && options.length;
      if (e.key === "ArrowDown") {
        e.preventDefault();
        if (list.hidden) { lookup(input.value.trim()); return; }
        if (open) { highlight((active + 1) % options.length); }
      } else if (e.key === "ArrowUp") {
        e.preventDefault();
        if (open) { highlight(active <= 0 ? options.length - 1 : active - 1); }
      } else if (e.key === "Enter") {
        if (open && active >= 0) { e.preventDefault(); choose(active); }
      } else if (e.key === "Escape") {
        if (!list.hidden) { e.preventDefault(); close(); }
      }
    });

    input.addEventListener("blur", function () { setTimeout(close, 100); });

    if (chips) {
      chips.addEventListener("click", function (e) {
        var button = e.target.closest("button");
        if (!button) { return; }
        var li = button.closest("li");
        li.parentNode.removeChild(li);
        input.focus();
      });
    }
  }

  document.querySelectorAll("[data-unit-picker]").forEach(setup);
})();
